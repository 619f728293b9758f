"""gunicorn settings, read from the working directory by every start of the web server
(`make run`, the Docker image, docker compose); the command lines add workers and the bind.

Request bodies are limited by Django (DATA_UPLOAD_MAX_MEMORY_SIZE, config/middleware.py);
gunicorn limits the request line and headers before Django sees them.
"""

# gunicorn's own defaults, stated so an upgrade or a stray flag cannot quietly raise them:
# a 4 kB request line (the longest URL here is far shorter), 100 headers of up to 8 kB.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# A request that takes longer than this is a hung worker; it is restarted.
timeout = 30
# The access log names the path only: a query string can carry a patient's name or MRN
# (`/patients/?search=...`), and so can the Referer. Method, path, protocol, status, size,
# duration.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
