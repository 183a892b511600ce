# Press Run (or type: python3 main.py) to print a small letter.
from letters import greeting, tidy_name, word_count, preview

body = "Thank you for the job offer. I am happy to accept, and I can start on Monday the 3rd."
name = tidy_name("  ms. okafor ")

print(greeting(name, True))
print()
print(body)
print()
print("Words:", word_count(body))
print("Preview:", preview(body, 28))
