"""What the API does, one module per mutation family: the rules and the transactions.

Resolvers call these; these call `db`, the judge, the analysis pipeline and the model service.
"""
