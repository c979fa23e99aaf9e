"""agentrec: an LLM agent that recommends by calling real recommender models as tools.

Importing the package is cheap on purpose: heavy libraries (torch, llama.cpp,
litellm) are imported only by the modules that use them.
"""

__version__ = "0.1.0"
