"""The product-visibility audit: does a strategic text sequence (STS) planted in one
product's text raise its rank in an LLM recommender, and do defences stop it?

Modules: ``catalog`` (JSONL catalogs), ``placement`` (where the STS goes),
``prompt`` and ``recommender`` (the recommender under audit), ``ranking``
(rank parsing), ``optimizers`` (the optimiser contract), ``random_search``,
``paired_evaluation`` and ``statistics`` (paired runs and their summary), ``defences``,
``perplexity``, ``report`` and ``run`` (one audit end to end).
"""
