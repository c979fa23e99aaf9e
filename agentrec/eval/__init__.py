"""Offline evaluation: ranking accuracy, beyond-accuracy metrics, bootstrap CIs and plots.

Modules (import the one you need; this package imports nothing on purpose):

- ``agentrec.eval.metrics``: Precision, Recall, binary nDCG, Hit, MRR and MAP at any k,
  per user.
- ``agentrec.eval.beyond``: coverage, Gini, ARP, EPC, ACLT, PopREO and genre ILD.
- ``agentrec.eval.bootstrap``: percentile-bootstrap CIs and paired comparisons.
- ``agentrec.eval.plots``: model-comparison bars and learning curves (matplotlib, Agg).

Every metric takes dense item indices: ``recommended`` is an ``(n_users, width)`` int array,
best first, padded with ``-1``; ``relevant`` is one array of held-out item indices per user.
"""
