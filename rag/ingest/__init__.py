"""Files → documents → passages: reading, cleaning, dating and chunking articles."""
