"""Watches: saved questions asked again when new articles may change their answers, and the
record of each change (:mod:`.book` checks, :mod:`.changes` compares, :mod:`.store` keeps)."""
