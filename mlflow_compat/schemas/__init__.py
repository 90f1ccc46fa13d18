"""Marshmallow schemas of every request and response message, declared once."""
