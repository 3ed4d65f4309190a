"""A small English text the demo tokenizer is trained on (written for this project, Apache-2.0)."""

CORPUS = """\
The future of artificial intelligence is a question people ask at every turn. Some say the
machines will learn to reason, others say they will only repeat what they have read. A good
workbench lets a person compare answers side by side and see for themselves.
In a galaxy far, far away, a small ship drifted past a red star. The pilot checked the fuel,
looked at the map and chose the long way home, because the short way ran through a storm.
The key to happiness is a quiet morning, a warm cup of tea and a friend who listens. It is
also good work, done with care, and enough sleep at night.
A terminal is a window into a computer. You type a command, the computer answers, and the
screen fills with text. Keys move the cursor, open panes, start and stop programs.
Language models write one token at a time. Each token is chosen from a list of likely next
pieces of text. The temperature makes the choice more or less random; top p keeps only the
most likely tokens whose probabilities add up to p; the seed makes a random choice repeatable.
When the answer is long enough, or the model writes its end token, the stream stops.
"""
