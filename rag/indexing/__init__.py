"""The writers of an index: a whole new one (build), a change in place (updates), what both
share (prepare: chunking, embedding, reused vectors, the manifest), embedding on a Ray cluster
(distributed), and progress."""
