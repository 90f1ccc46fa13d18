"""The HTTP server: gunicorn with this project's worker, serving the ``mlflow_compat`` app.

This package may import ``mlflow_compat`` (the app factory, its config); nothing in
``mlflow_compat`` imports it. What the server can do beyond plain WSGI reaches the app through
the environ keys ``mlflow_compat.server_environ`` names.
"""
