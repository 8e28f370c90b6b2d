// Sample conversations for the demo: one prompt, replies that differ in length, structure, tone
// and caution. Written for Palate.
export const SAMPLES = [
  {
    prompt: 'How do I get my toddler to eat more vegetables?',
    replies: [
      'Offer vegetables often and without pressure; it can take ten or more tries before a child accepts a new food.',
      'Great question! Toddlers are picky, and that\'s totally normal. Try cutting veggies into fun shapes, letting them help wash and stir, and eating the same food yourself so they copy you. You\'ve got this! 😊',
      '1. Serve one familiar food with every new vegetable.\n2. Put a small portion on the plate and do not insist.\n3. Let your child help prepare it.\n4. Repeat the same vegetable over several weeks.',
      'Repeated, pressure-free exposure works best. Note, however, that if your child eats very few foods overall, loses weight or gags often, it is worth speaking to a paediatrician, as this may indicate a feeding difficulty.',
      'Certainly. Research on early feeding indicates that acceptance increases with repeated exposure (typically 8 to 15 presentations), modelling by caregivers, and involvement in preparation. Coercive strategies, such as rewards for eating, tend to reduce liking over time. I trust this clarifies the matter.',
    ],
  },
  {
    prompt: 'Can you explain what an API key is?',
    replies: [
      'An API key is a secret token that identifies your program when it calls a web service.',
      'Think of an API key like a hotel key card: the service hands it to you, and every time your app knocks on the door it shows the card so the service knows who is calling and what they may do.',
      'An API key is a long random string issued by a service. Your program sends it with each request, usually in a header such as `Authorization: Bearer <key>`. The service looks it up to identify the caller, apply rate limits and bill usage. Keys should live in environment variables or a secrets manager, never in source code.',
      'Sure thing! It\'s basically a password for apps. You paste it into your code or config and the service lets your app in. Easy!',
      'An API key identifies and authorises a client. Be careful: anyone who obtains your key can act as you, so keep it private, rotate it if it leaks, and prefer scoped keys with the fewest permissions possible.',
    ],
  },
  {
    prompt: 'What should I pack for a weekend hiking trip?',
    replies: [
      'Pack layers, a rain jacket, sturdy boots, water, snacks, a map and a first-aid kit.',
      '1. Clothing: base layer, fleece, waterproof jacket, spare socks.\n2. Gear: backpack, headlamp, map and compass, knife.\n3. Food and water: two litres of water per person per day, high-energy snacks.\n4. Safety: first-aid kit, sun cream, whistle, phone with offline maps.',
      'Oh, fun! Bring comfy boots, a cosy jumper, loads of snacks and a good book for the evenings. Don\'t forget marshmallows! 🔥',
      'It depends on the season and the terrain, so check the forecast first. In most cases you will want layers and waterproofs; mountain weather can change quickly, and you should tell someone your route and expected return time.',
      'A well-packed bag is like a good toolbox: everything you might need, nothing you will not. Start with the essentials (water, food, layers, navigation, first aid), then add comforts only if the weight allows.',
    ],
  },
];
