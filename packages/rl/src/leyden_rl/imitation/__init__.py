"""Imitation learning: demonstrations, behaviour cloning, DAgger and one-shot imitation (Duan et al., 2017)."""
