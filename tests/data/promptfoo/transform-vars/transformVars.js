module.exports = {
  customTransformVars: (vars, context) => ({
    uppercase_topic: vars.topic.toUpperCase(),
    topic_length: vars.topic.length,
    processed_content: vars.content.trim(),
  }),
};
