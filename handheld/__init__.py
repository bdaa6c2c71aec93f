"""Handheld scanner client (decoders, camera, wedge input, offline queue). Never imports server."""
