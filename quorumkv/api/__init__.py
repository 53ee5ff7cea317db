"""Client-facing APIs: the Redis protocol and HTTP/JSON, over one KV service."""
