"""The fitting programs (``python -m sinoqa.fitting.scorer``, ``.ranker``, ``.words``) and
the weights they write to ``weights/``, which the answerer and the retriever load."""
