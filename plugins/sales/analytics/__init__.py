"""Sales analytics: the sales reports, the head of sales' dashboard widget and sales plans.

Every figure is aggregate SQL (GROUP BY) over the sales tables within the user's record
scope ("sales.deals", applied to the deal owner); nothing loops over deals in Python.
"""
