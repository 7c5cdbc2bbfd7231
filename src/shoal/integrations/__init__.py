"""Adapters for the libraries people already use with embeddings (LangChain)."""
