"""`graphtool bench`: every runtime of one model side by side, each in a process of its own, and a speed gate."""
