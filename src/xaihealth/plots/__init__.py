"""Plotting helpers shared by the notebooks: style and layout only, never the method being taught."""
