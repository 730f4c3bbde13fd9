def build_prompt(context):
    return f"Tell me about {context['vars']['topic']}"
