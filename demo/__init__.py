"""Demo extracts for trying the pipeline: a generator, a Japanese Excel export and fault injection.

Not part of the runtime package: the pipeline never needs it to load real extracts.
"""
