"""The registry's read-only JSON API under /api/v1: tokens, schemas, OpenAPI. Calls services only."""
