"""Test doubles shared by test folders: embedders that count, fail or go slowly."""
