"""Transform models: silver rendered from the catalog, gold as one SQL file per table."""
