"""Views over the corpus beside the chat: a story's timeline, outlets compared, feedback."""
