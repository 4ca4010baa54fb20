"""Personal data on request: erasure of a person (APPI, GDPR), and keeping them erased at later loads."""
