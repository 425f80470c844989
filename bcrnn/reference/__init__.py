"""bcrnn.reference: the integer golden model (numpy only, no torch) that every station is checked against.

Bipolar encoding as FINN uses it: bit 1 = +1, bit 0 = -1; dot(a, w) = 2 * popcount(XNOR(a, w)) - N.
"""
