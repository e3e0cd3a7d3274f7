"""Walking distances: sparse pairs within a cutoff, from streets, straight lines or a table.

``base`` holds the pair arrays and the engine protocol (with the straight-line engine),
``network`` the street-network engine, ``osm`` the OpenStreetMap reader, ``table`` precomputed
distance tables, and ``engine`` the factory that picks one from a scenario's settings.
"""
