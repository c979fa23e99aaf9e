"""Classic recommenders behind one contract (fit / score / recommend), plus retrieval and fusion.

Import models from their modules (or build them by name with
``agentrec.recsys.registry.make_model``); this package file stays light so that
importing ``agentrec.recsys`` never pulls in torch or sentence-transformers.
"""
