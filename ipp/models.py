"""Intellectual Property Protection: applications and where they may be deployed."""
