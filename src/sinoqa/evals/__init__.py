"""The eval suite: question sets, runs over configurations, metrics, reports and records."""
