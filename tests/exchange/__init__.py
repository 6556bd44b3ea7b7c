"""Specification of exsim.exchange: commands in, exact event sequences out."""
