"""A package, so that its conftest.py is `methods.conftest` and `from conftest import ...`
keeps meaning tests/conftest.py everywhere."""
