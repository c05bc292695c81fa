"""Limits on what the services beside the chat (the JSON API, the MCP server) take."""

#: Longest question taken (longer ones are an error there; the pipeline truncates at
#: answer.max_question_chars with a notice, as the chat does).
MAX_QUESTION_CHARS = 20_000
