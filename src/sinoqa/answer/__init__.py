"""Answering: score and select the sentences that answer, extractively or through an LLM,
each tied to the passage it came from."""
