module.exports = (output, context) => {
  console.log('Prompt:', context.prompt);
  console.log('Vars', context.vars.body);
  return {pass: output.includes(context.vars.body), score: 0.9, reason: 'mentions the text'};
};
