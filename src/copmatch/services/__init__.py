"""The product's verbs: experts, practices, brokering, health, silos, index builds.

Services combine the layers below (ranking, index, embedding, store); the facade
(``community.py``) calls them, and the interfaces call the facade.
"""
