"""One blueprint per resource of the MLflow REST API."""
