"""The torch wing: encoder, GraphSAGE, embeddings and training. Needs the ``train`` extra.

Nothing in the edge runtime imports this package; the CLI imports it lazily for ``train``,
``export`` and ``verify`` and says which extra to install when torch is missing.
"""
