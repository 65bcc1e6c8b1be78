"""Stage 5a, serving: the real-time BentoML service (`service.LeadScoring`: /score with
reasons, health and metrics), its request and response models generated from the config
(`schema`), the import of a registered model into the BentoML store (`store`), micro-batching
(`batcher`), the scoring of a batch of requests (`jobs`) and bearer-token auth (`auth`).

Nothing is imported here: importing the service loads the model.
"""
