"""Capacity planning (``avatar capacity``): the lane simulator, its sourced figures and the report."""
