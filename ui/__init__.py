"""The s3server web console: a small aiohttp application with static pages and a JSON API.

It signs S3 and admin requests on the signed-in person's behalf, with keys kept in a server-side
session, so the browser never holds a secret. `ui.server` runs it inside `s3server serve` or alone.
"""
