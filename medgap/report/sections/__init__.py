"""The report's sections, one module per concern; `medgap.report.page` puts them in order."""
