"""The library as a service: the FastAPI app and its routes, the pre-forked server, and the MCP
server. Its `schemas` module is the HTTP contract the clients share."""
