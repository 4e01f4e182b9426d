"""Web front-ends served by medgap commands (the error-annotation app)."""
