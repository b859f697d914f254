"""The API's routes, one module per group: search, documents, chatbots and status."""
