"""Plain helper functions shared by test files (fixtures live in the conftest.py files).

Imported as `helpers.<module>`: pytest's default (prepend) import mode puts tests/ on sys.path
for tests/conftest.py, and tests/ has no __init__.py, so `helpers` is a top-level package.
"""
