"""The sample shop's category tree: departments, leaves, brands, product lines and complement links."""

from __future__ import annotations

from dataclasses import dataclass

from crosssell_spark.schemas import CATEGORY_SEPARATOR

PLAIN_TITLE = "{brand} {line} {attrs}"
ANCHOR_TITLE = "{brand} {series} {model} {noun} {attrs}"
ACCESSORY_TITLE_FOR = "{brand} {line} for {anchor_brand} {series} {model} {attrs}"
ACCESSORY_TITLE_MODEL_FIRST = "{brand} {series} {model} {line} {attrs}"

COLOURS = ("Black", "White", "Navy", "Grey", "Red", "Green")
PHONE_COLOURS = ("Phantom Black", "Midnight Blue", "Silver", "Mint Green", "Lavender", "Graphite")
CLOTHING_SIZES = ("XS", "Small", "Medium", "Large", "XL")


@dataclass(frozen=True)
class ModelSeries:
    """A product line whose model names accessories quote in their titles (Galaxy S23, ThinkPad X1)."""

    brand: str
    series: str
    noun: str
    prefix: str
    numbers: tuple[int, ...]

    def model(self, number: int) -> str:
        """The model token, e.g. "S23" or "ET-2810"."""
        return f"{self.prefix}{number}"

    def overflow_number(self, extra: int) -> int:
        """Model numbers past the real ones, used only when a huge catalogue needs more models."""
        step = self.numbers[-1] - self.numbers[-2] if len(self.numbers) > 1 else 1
        return self.numbers[-1] + step * extra


@dataclass(frozen=True)
class Leaf:
    """A level-3 category with what it takes to invent realistic items for it."""

    path: tuple[str, str, str]
    mean_price: float
    blurb: str
    brands: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    attributes: tuple[tuple[str, ...], ...] = ()
    series: tuple[ModelSeries, ...] = ()  # set on anchors whose models accessories quote
    accessory_of: str | None = None  # name of the anchor leaf whose model names these titles carry
    bought_with: str | None = None  # name of the leaf shoppers buy alongside (no shared title words)
    title_format: str = PLAIN_TITLE
    weight: float = 1.0  # relative share of items and of browsing within its level-2 category

    @property
    def name(self) -> str:
        """The leaf's own name, unique in the tree."""
        return self.path[-1]

    @property
    def path_string(self) -> str:
        """The full category path in the input contract's format."""
        return CATEGORY_SEPARATOR.join(self.path)

    @property
    def level2_path(self) -> str:
        """The path of the level-2 category the leaf sits in."""
        return level2_path(self.path_string)


def level2_path(path: str) -> str:
    """The level-2 ancestor of a category path."""
    return CATEGORY_SEPARATOR.join(path.split(CATEGORY_SEPARATOR)[:2])


_E, _G, _H, _S, _F, _B, _T = "Electronics", "Grocery", "Home & Garden", "Sports", "Fashion", "Beauty", "Toys"

LEAVES: tuple[Leaf, ...] = (
    # --- Electronics ------------------------------------------------------------------------------
    Leaf(
        (_E, "Phones", "Smartphones"),
        520.0,
        "Unlocked 5G smartphone",
        title_format=ANCHOR_TITLE,
        attributes=(("64GB", "128GB", "256GB", "512GB"), PHONE_COLOURS),
        series=(
            ModelSeries("Samsung", "Galaxy", "", "S", (21, 22, 23, 24, 25)),
            ModelSeries("Apple", "iPhone", "", "", (12, 13, 14, 15, 16)),
            ModelSeries("Google", "Pixel", "", "", (6, 7, 8, 9)),
            ModelSeries("Samsung", "Galaxy", "", "A", (15, 25, 35, 55)),
            ModelSeries("Xiaomi", "Redmi Note", "", "", (11, 12, 13, 14)),
            ModelSeries("Motorola", "Moto", "", "G", (14, 24, 54, 84)),
            ModelSeries("OnePlus", "Nord", "", "CE", (2, 3, 4)),
        ),
    ),
    Leaf(
        (_E, "Phone Accessories", "Cases"),
        18.0,
        "Slim protective phone case",
        accessory_of="Smartphones",
        title_format=ACCESSORY_TITLE_MODEL_FIRST,
        brands=("Spigen", "OtterBox", "ESR", "Tech21", "Ringke", "Case-Mate"),
        lines=("Silicone Case", "Clear Case", "Wallet Case", "Rugged Armor Case", "MagSafe Case"),
        attributes=(("Black", "Clear", "Navy", "Coral", "Sage"),),
    ),
    Leaf(
        (_E, "Phone Accessories", "Screen Protectors"),
        9.0,
        "Scratch-resistant screen protection",
        accessory_of="Smartphones",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("Belkin", "ZAGG", "amFilm", "JETech", "Ailun"),
        lines=("Tempered Glass Screen Protector", "Privacy Screen Protector", "Anti-Glare Film"),
        attributes=(("2 Pack", "3 Pack"),),
    ),
    Leaf(
        (_E, "Phone Accessories", "Chargers"),
        22.0,
        "Fast charging for phones and tablets",
        brands=("Anker", "Belkin", "Ugreen", "Mophie", "Baseus"),
        lines=("USB-C Wall Charger", "Wireless Charging Pad", "Car Charger", "Power Bank"),
        attributes=(("20W", "30W", "45W", "65W"), ("Black", "White")),
    ),
    Leaf(
        (_E, "Computers", "Laptops"),
        900.0,
        "Lightweight laptop for work and study",
        title_format=ANCHOR_TITLE,
        attributes=(("8GB RAM", "16GB RAM", "32GB RAM"), ("256GB SSD", "512GB SSD", "1TB SSD")),
        series=(
            ModelSeries("Lenovo", "ThinkPad", "Laptop", "X", (1, 13)),
            ModelSeries("Dell", "XPS", "Laptop", "", (13, 14, 16)),
            ModelSeries("Apple", "MacBook Air", "Laptop", "M", (1, 2, 3, 4)),
            ModelSeries("HP", "EliteBook", "Laptop", "", (640, 840, 860)),
            ModelSeries("Lenovo", "ThinkPad", "Laptop", "T", (14, 16)),
            ModelSeries("Dell", "Latitude", "Laptop", "", (5440, 5540, 7440)),
            ModelSeries("Acer", "Swift Go", "Laptop", "SFG", (14, 16)),
            ModelSeries("ASUS", "ZenBook", "Laptop", "UX", (3402, 3405, 5406)),
        ),
    ),
    Leaf(
        (_E, "Computer Accessories", "Laptop Bags"),
        35.0,
        "Padded bag that fits your laptop",
        accessory_of="Laptops",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("Targus", "Samsonite", "Thule", "Incase", "Everki"),
        lines=("Laptop Backpack", "Laptop Sleeve", "Messenger Bag", "Slim Briefcase"),
        attributes=(("Black", "Grey", "Navy"),),
    ),
    Leaf(
        (_E, "Computer Accessories", "Laptop Chargers"),
        40.0,
        "Replacement power adapter",
        accessory_of="Laptops",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("Ugreen", "Anker", "Belkin", "Baseus"),
        lines=("65W USB-C Charger", "90W Power Adapter", "100W GaN Charger"),
        attributes=(),
    ),
    Leaf(
        (_E, "Computer Accessories", "Mice & Keyboards"),
        30.0,
        "Comfortable everyday input device",
        brands=("Logitech", "Microsoft", "Razer", "Corsair", "Keychron"),
        lines=("Wireless Mouse", "Ergonomic Mouse", "Mechanical Keyboard", "Wireless Keyboard"),
        attributes=(("Black", "White", "Graphite"),),
    ),
    Leaf(
        (_E, "Printers", "Home Printers"),
        150.0,
        "Wireless all-in-one printer for home",
        title_format=ANCHOR_TITLE,
        weight=0.7,
        attributes=(("White", "Black"),),
        series=(
            ModelSeries("HP", "DeskJet", "Printer", "", (2710, 2720, 3750, 4120)),
            ModelSeries("Canon", "PIXMA", "Printer", "TS", (3350, 5150, 5350, 6350)),
            ModelSeries("Epson", "EcoTank", "Printer", "ET-", (2810, 2850, 4800)),
            ModelSeries("Brother", "", "Printer", "DCP-J", (1050, 1140, 1200)),
        ),
    ),
    Leaf(
        (_E, "Printer Supplies", "Ink Cartridges"),
        25.0,
        "Compatible ink with sharp prints",
        accessory_of="Home Printers",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("Jet Tec", "Cartridge People", "Smart Ink", "Go Inks"),
        lines=("Black Ink Cartridge", "Colour Ink Cartridge", "Ink Multipack", "XL Ink Cartridge"),
        attributes=(),
    ),
    Leaf(
        (_E, "Audio", "Headphones"),
        120.0,
        "Wireless headphones with long battery life",
        brands=("Sony", "Bose", "JBL", "Sennheiser", "Beats"),
        lines=("Wireless Over-Ear Headphones", "Noise Cancelling Earbuds", "Sports Earbuds"),
        attributes=(("Black", "White", "Blue", "Beige"),),
    ),
    Leaf(
        (_E, "Batteries & Power", "Batteries"),
        8.0,
        "Long-lasting household batteries",
        brands=("Duracell", "Energizer", "Panasonic", "Varta"),
        lines=("AA Batteries", "AAA Batteries", "9V Batteries", "AA Rechargeable Batteries"),
        attributes=(("4 Pack", "8 Pack", "12 Pack", "20 Pack"),),
    ),
    # --- Grocery ----------------------------------------------------------------------------------
    Leaf(
        (_G, "Pasta & Rice", "Pasta"),
        1.6,
        "Durum wheat dried pasta",
        weight=1.5,
        bought_with="Pasta Sauce",
        brands=("Barilla", "De Cecco", "Garofalo", "Napolina", "Rummo", "La Molisana"),
        lines=(
            "Spaghetti No.5",
            "Penne Rigate",
            "Fusilli",
            "Farfalle",
            "Linguine",
            "Rigatoni",
            "Tagliatelle",
            "Orecchiette",
        ),
        attributes=(("500g", "1kg"),),
    ),
    Leaf(
        (_G, "Pasta & Rice", "Rice"),
        2.5,
        "Fluffy long grain rice",
        brands=("Tilda", "Ben's Original", "Veetee", "Riso Gallo"),
        lines=("Basmati Rice", "Long Grain Rice", "Arborio Risotto Rice", "Jasmine Rice", "Brown Rice"),
        attributes=(("500g", "1kg", "2kg"),),
    ),
    Leaf(
        (_G, "Sauces", "Pasta Sauce"),
        2.3,
        "Rich Italian-style sauce",
        weight=1.5,
        brands=("Dolmio", "Sacla", "Loyd Grossman", "Bertolli", "Mutti"),
        lines=(
            "Bolognese Sauce",
            "Tomato & Basil Sauce",
            "Arrabbiata Sauce",
            "Green Pesto",
            "Carbonara Sauce",
            "Puttanesca Sauce",
        ),
        attributes=(("190g", "350g", "400g", "750g"),),
    ),
    Leaf(
        (_G, "Sauces", "Condiments"),
        1.8,
        "Classic table sauce",
        brands=("Heinz", "Hellmann's", "Colman's", "Lea & Perrins"),
        lines=("Tomato Ketchup", "Real Mayonnaise", "English Mustard", "Worcestershire Sauce", "BBQ Sauce"),
        attributes=(("250ml", "460g", "500ml"),),
    ),
    Leaf(
        (_G, "Snacks", "Crisps"),
        1.5,
        "Crunchy potato crisps",
        weight=1.5,
        bought_with="Dips",
        brands=("Walkers", "Kettle", "Pringles", "Tyrrells", "Doritos"),
        lines=(
            "Sea Salt & Vinegar Crisps",
            "Cheese & Onion Crisps",
            "Ready Salted Crisps",
            "Sweet Chilli Crisps",
            "Lightly Salted Crisps",
        ),
        attributes=(("150g", "6 x 25g", "200g"),),
    ),
    Leaf(
        (_G, "Dips & Spreads", "Dips"),
        2.0,
        "Chilled dip for sharing",
        brands=("Sabra", "Old El Paso", "Tostitos", "Mr Organic"),
        lines=("Classic Houmous", "Chunky Salsa", "Guacamole", "Cheesy Nacho Dip", "Tzatziki"),
        attributes=(("170g", "300g", "326g"),),
    ),
    Leaf(
        (_G, "Dips & Spreads", "Spreads"),
        3.0,
        "Spread for toast and baking",
        brands=("Nutella", "Marmite", "Lurpak", "Whole Earth"),
        lines=("Hazelnut Spread", "Yeast Extract", "Spreadable Butter", "Crunchy Peanut Butter"),
        attributes=(("250g", "400g", "750g"),),
    ),
    Leaf(
        (_G, "Breakfast", "Cereal"),
        3.2,
        "Breakfast cereal",
        bought_with="Milk",
        brands=("Kellogg's", "Nestle", "Weetabix", "Jordans", "Dorset Cereals"),
        lines=("Corn Flakes", "Crunchy Nut", "Shreddies", "Granola Clusters", "Bran Flakes", "Muesli"),
        attributes=(("375g", "500g", "750g"),),
    ),
    Leaf(
        (_G, "Dairy", "Milk"),
        1.4,
        "Fresh milk and plant drinks",
        brands=("Cravendale", "Arla", "Alpro", "Oatly"),
        lines=("Semi Skimmed Milk", "Whole Milk", "Oat Drink", "Almond Drink", "Lactose Free Milk"),
        attributes=(("1L", "2L", "4 Pints"),),
    ),
    Leaf(
        (_G, "Dairy", "Cheese"),
        3.5,
        "Cheese for cooking and snacking",
        brands=("Cathedral City", "Philadelphia", "Galbani", "Pilgrims Choice"),
        lines=("Mature Cheddar", "Soft Cheese", "Mozzarella", "Grated Parmesan"),
        attributes=(("200g", "350g", "550g"),),
    ),
    Leaf(
        (_G, "Coffee & Tea", "Tea"),
        3.0,
        "Everyday black and herbal tea",
        brands=("PG Tips", "Yorkshire Tea", "Twinings", "Clipper"),
        lines=("Black Tea Bags", "English Breakfast Tea", "Earl Grey Tea", "Green Tea"),
        attributes=(("40 Bags", "80 Bags", "160 Bags"),),
    ),
    Leaf(
        (_G, "Coffee & Tea", "Ground Coffee"),
        4.5,
        "Roast and ground coffee",
        brands=("Lavazza", "Illy", "Taylors", "Starbucks"),
        lines=("Espresso Ground Coffee", "Medium Roast Ground Coffee", "Decaf Ground Coffee"),
        attributes=(("227g", "250g", "500g"),),
    ),
    # --- Home & Garden ----------------------------------------------------------------------------
    Leaf(
        (_H, "Vacuums", "Vacuum Cleaners"),
        280.0,
        "Powerful vacuum cleaner for every floor",
        title_format=ANCHOR_TITLE,
        weight=0.8,
        attributes=(("Purple", "Grey", "Red", "Blue"),),
        series=(
            ModelSeries("Dyson", "", "Cordless Vacuum", "V", (8, 10, 11, 12, 15)),
            ModelSeries("Shark", "", "Cordless Vacuum", "IZ", (201, 251, 300, 320)),
            ModelSeries("Vax", "Blade", "Cordless Vacuum", "", (3, 4, 5)),
            ModelSeries("Numatic", "Henry", "Cylinder Vacuum", "HVR", (160, 200)),
            ModelSeries("Miele", "Complete", "Cylinder Vacuum", "C", (2, 3)),
        ),
    ),
    Leaf(
        (_H, "Vacuum Accessories", "Filters & Bags"),
        12.0,
        "Replacement parts that keep suction strong",
        accessory_of="Vacuum Cleaners",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("Qualtex", "Ufixt", "Europart", "Vacuum Spares"),
        lines=("Replacement Filter", "Dust Bags 10 Pack", "Washable Pre-Motor Filter", "Replacement Battery"),
        attributes=(),
    ),
    Leaf(
        (_H, "Kitchen", "Cookware"),
        35.0,
        "Durable cookware for everyday cooking",
        brands=("Tefal", "Le Creuset", "Circulon", "Prestige", "Ninja"),
        lines=("Non-Stick Frying Pan", "Saucepan Set", "Casserole Dish", "Wok"),
        attributes=(("20cm", "24cm", "28cm"),),
    ),
    Leaf(
        (_H, "Kitchen", "Coffee Makers"),
        160.0,
        "Coffee machine for barista-style drinks",
        brands=("De'Longhi", "Nespresso", "Breville", "Sage"),
        lines=("Bean to Cup Coffee Machine", "Pod Coffee Machine", "Filter Coffee Maker"),
        attributes=(("Black", "Silver", "Cream"),),
    ),
    Leaf(
        (_H, "Plants", "Indoor Plants"),
        15.0,
        "Healthy houseplant grown in the UK",
        bought_with="Planters",
        brands=("Patch", "Bloom & Wild", "Crocus", "Thompson & Morgan", "Dobbies"),
        lines=(
            "Monstera Deliciosa",
            "Snake Plant",
            "Peace Lily",
            "Fiddle Leaf Fig",
            "Golden Pothos",
            "Calathea Orbifolia",
            "Aloe Vera",
        ),
        attributes=(("Small", "Medium", "Large"),),
    ),
    Leaf(
        (_H, "Garden", "Planters"),
        18.0,
        "Stylish pot with drainage",
        brands=("Elho", "Ivyline", "Stewart", "Lechuza"),
        lines=("Ceramic Pot", "Self-Watering Planter", "Hanging Planter", "Window Box"),
        attributes=(("14cm", "19cm", "25cm"), ("Terracotta", "White", "Anthracite", "Sage")),
    ),
    Leaf(
        (_H, "Garden", "Garden Tools"),
        20.0,
        "Hard-wearing hand tool for the garden",
        brands=("Spear & Jackson", "Fiskars", "Kent & Stowe", "Wolf-Garten"),
        lines=("Stainless Steel Trowel", "Bypass Secateurs", "Digging Spade", "Garden Fork", "Hand Rake"),
        attributes=(),
    ),
    Leaf(
        (_H, "Bedding", "Duvets & Pillows"),
        45.0,
        "Soft bedding for a good night's sleep",
        brands=("Silentnight", "Slumberdown", "Snuggledown", "Fogarty"),
        lines=("10.5 Tog Duvet", "4.5 Tog Duvet", "Anti-Allergy Pillow 2 Pack", "Memory Foam Pillow"),
        attributes=(("Single", "Double", "King"),),
    ),
    # --- Sports -----------------------------------------------------------------------------------
    Leaf(
        (_S, "Cycling", "Bikes"),
        650.0,
        "Aluminium-frame bike for commuting and trails",
        title_format=ANCHOR_TITLE,
        weight=0.8,
        attributes=(
            ("Small Frame", "Medium Frame", "Large Frame", "XL Frame"),
            ("Matte Black", "Gloss Blue", "Silver"),
        ),
        series=(
            ModelSeries("Trek", "FX", "Hybrid Bike", "", (1, 2, 3)),
            ModelSeries("Giant", "Talon", "Mountain Bike", "", (1, 2, 3, 4)),
            ModelSeries("Trek", "Marlin", "Mountain Bike", "", (4, 5, 6, 7)),
            ModelSeries("Giant", "Escape", "Hybrid Bike", "", (1, 2, 3)),
            ModelSeries("Cannondale", "Quick", "Hybrid Bike", "", (3, 4, 5)),
        ),
    ),
    Leaf(
        (_S, "Cycling Accessories", "Bike Lights"),
        25.0,
        "Bright USB-rechargeable bike lights",
        accessory_of="Bikes",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("Lezyne", "Cateye", "Knog", "Blackburn"),
        lines=("Front and Rear Light Set", "Rear Light", "Handlebar Mount Light"),
        attributes=(),
    ),
    Leaf(
        (_S, "Cycling Accessories", "Mudguards"),
        22.0,
        "Full-length mudguards that keep you dry",
        accessory_of="Bikes",
        title_format=ACCESSORY_TITLE_FOR,
        brands=("SKS", "Zefal", "Crud", "Topeak"),
        lines=("Mudguard Set", "Clip-On Rear Mudguard"),
        attributes=(),
    ),
    Leaf(
        (_S, "Cycling Accessories", "Helmets"),
        45.0,
        "Lightweight ventilated cycling helmet",
        brands=("Giro", "Bell", "Kask", "MET", "Lazer"),
        lines=("Road Helmet", "MTB Helmet", "Commuter Helmet"),
        attributes=(("Small", "Medium", "Large"), COLOURS),
    ),
    Leaf(
        (_S, "Fitness", "Yoga Mats"),
        25.0,
        "Grippy mat for yoga and pilates",
        bought_with="Water Bottles",
        brands=("Manduka", "Gaiam", "Liforme", "Myprotein"),
        lines=("Yoga Mat", "Non-Slip Yoga Mat", "Travel Yoga Mat"),
        attributes=(("4mm", "6mm"), ("Purple", "Teal", "Charcoal")),
    ),
    Leaf(
        (_S, "Fitness", "Dumbbells"),
        40.0,
        "Solid weights for strength training",
        brands=("York", "Bowflex", "Opti", "Mirafit"),
        lines=("Hex Dumbbell", "Adjustable Dumbbell Set", "Kettlebell"),
        attributes=(("5kg", "10kg", "20kg"),),
    ),
    Leaf(
        (_S, "Hydration", "Water Bottles"),
        20.0,
        "Leak-proof reusable bottle",
        brands=("Chilly's", "Hydro Flask", "CamelBak", "Klean Kanteen"),
        lines=("Insulated Bottle", "Sports Bottle", "Stainless Steel Flask"),
        attributes=(("500ml", "750ml", "1L"), ("Black", "Ocean Blue", "Rose")),
    ),
    Leaf(
        (_S, "Running", "Running Shoes"),
        95.0,
        "Cushioned shoes for road and trail",
        bought_with="Socks",
        brands=("Nike", "Adidas", "ASICS", "Brooks", "Hoka", "New Balance"),
        lines=("Road Running Shoes", "Trail Running Shoes", "Cushioned Running Shoes", "Racing Shoes"),
        attributes=(("UK 7", "UK 8", "UK 9", "UK 10", "UK 11"),),
    ),
    # --- Fashion ----------------------------------------------------------------------------------
    Leaf(
        (_F, "Men's Clothing", "T-Shirts"),
        15.0,
        "Soft cotton t-shirt",
        brands=("Levi's", "Tommy Hilfiger", "Uniqlo", "Ralph Lauren", "Jack & Jones"),
        lines=("Crew Neck T-Shirt", "Slim Fit Polo Shirt", "Graphic Tee", "V-Neck T-Shirt"),
        attributes=(CLOTHING_SIZES, COLOURS),
    ),
    Leaf(
        (_F, "Men's Clothing", "Jeans"),
        50.0,
        "Classic five-pocket jeans",
        brands=("Levi's", "Wrangler", "Lee", "Diesel"),
        lines=("511 Slim Jeans", "Straight Leg Jeans", "Tapered Jeans", "Relaxed Fit Jeans"),
        attributes=(("W30 L32", "W32 L32", "W34 L32", "W36 L34"), ("Indigo", "Black", "Light Wash")),
    ),
    Leaf(
        (_F, "Women's Clothing", "Dresses"),
        45.0,
        "Easy-to-wear dress",
        brands=("Mango", "Monsoon", "Whistles", "Hobbs", "Phase Eight"),
        lines=("Midi Wrap Dress", "Maxi Dress", "Shirt Dress", "Knitted Dress"),
        attributes=(("UK 8", "UK 10", "UK 12", "UK 14", "UK 16"), ("Black", "Floral", "Navy", "Emerald")),
    ),
    Leaf(
        (_F, "Women's Clothing", "Jumpers"),
        40.0,
        "Warm knitted jumper",
        brands=("Jigsaw", "Seasalt", "Joules", "Boden"),
        lines=("Merino Crew Neck Jumper", "Cable Knit Jumper", "Roll Neck Jumper", "Cardigan"),
        attributes=(CLOTHING_SIZES, ("Oatmeal", "Navy", "Camel", "Forest Green")),
    ),
    Leaf(
        (_F, "Footwear", "Trainers"),
        70.0,
        "Everyday trainers",
        brands=("Nike", "Adidas", "Vans", "Converse", "Veja"),
        lines=("Low Top Trainers", "Canvas Trainers", "Leather Trainers", "High Top Trainers"),
        attributes=(("UK 5", "UK 6", "UK 7", "UK 8", "UK 9", "UK 10"), ("White", "Black", "Off White")),
    ),
    Leaf(
        (_F, "Footwear", "Boots"),
        90.0,
        "Sturdy boots for every season",
        brands=("Dr. Martens", "Timberland", "UGG", "Clarks"),
        lines=("Chelsea Boots", "Lace-Up Boots", "Hiking Boots", "Ankle Boots"),
        attributes=(("UK 5", "UK 6", "UK 7", "UK 8", "UK 9", "UK 10"), ("Black", "Tan", "Brown")),
    ),
    Leaf(
        (_F, "Socks & Hosiery", "Socks"),
        8.0,
        "Comfortable breathable socks",
        brands=("Falke", "Stance", "Bridgedale", "Balega"),
        lines=("Cushioned Ankle Socks", "Merino Hiking Socks", "Compression Socks", "Bamboo Socks"),
        attributes=(("3 Pairs", "5 Pairs"), ("S/M", "L/XL")),
    ),
    # --- Beauty -----------------------------------------------------------------------------------
    Leaf(
        (_B, "Hair Care", "Shampoo"),
        6.0,
        "Gentle cleansing shampoo",
        brands=("Pantene", "Head & Shoulders", "L'Oreal Elvive", "Aussie", "OGX"),
        lines=("Repair Shampoo", "Anti-Dandruff Shampoo", "Volume Shampoo", "Moisture Shampoo"),
        attributes=(("250ml", "400ml", "500ml"),),
    ),
    Leaf(
        (_B, "Hair Care", "Conditioner"),
        6.0,
        "Nourishing conditioner",
        brands=("Pantene", "Herbal Essences", "L'Oreal Elvive", "Aussie", "OGX"),
        lines=("Repair Conditioner", "Smooth Conditioner", "Volume Conditioner"),
        attributes=(("200ml", "360ml", "500ml"),),
    ),
    Leaf(
        (_B, "Make-up", "Mascara"),
        12.0,
        "Long-wear mascara",
        bought_with="Make-up Remover",
        brands=("Maybelline", "L'Oreal Paris", "Benefit", "Rimmel", "MAC"),
        lines=("Volumising Mascara", "Lengthening Mascara", "Waterproof Mascara", "Curling Mascara"),
        attributes=(("Black", "Brown Black", "Very Black"),),
    ),
    Leaf(
        (_B, "Make-up", "Lipstick"),
        14.0,
        "Creamy long-lasting lipstick",
        brands=("MAC", "Charlotte Tilbury", "Maybelline", "Revlon"),
        lines=("Matte Lipstick", "Satin Lipstick", "Liquid Lipstick", "Lip Gloss"),
        attributes=(("Ruby Woo", "Pillow Talk", "Nude", "Berry"),),
    ),
    Leaf(
        (_B, "Skin Care", "Make-up Remover"),
        7.0,
        "Removes make-up without rubbing",
        brands=("Garnier", "Bioderma", "Simple", "Neutrogena"),
        lines=("Micellar Cleansing Water", "Eye Make-up Remover", "Cleansing Balm", "Cleansing Wipes"),
        attributes=(("100ml", "125ml", "400ml"),),
    ),
    Leaf(
        (_B, "Skin Care", "Moisturiser"),
        15.0,
        "Hydrating daily moisturiser",
        brands=("CeraVe", "Nivea", "La Roche-Posay", "Olay", "The Ordinary"),
        lines=("Daily Moisturising Lotion", "SPF 30 Day Cream", "Night Cream", "Hydrating Gel"),
        attributes=(("50ml", "236ml", "473ml"),),
    ),
    Leaf(
        (_B, "Fragrance", "Perfume"),
        60.0,
        "Signature scent",
        brands=("Chanel", "Dior", "Hugo Boss", "Calvin Klein", "Jo Malone"),
        lines=("Eau de Parfum", "Eau de Toilette", "Cologne"),
        attributes=(("30ml", "50ml", "100ml"),),
    ),
    # --- Toys -------------------------------------------------------------------------------------
    Leaf(
        (_T, "Remote Control", "RC Cars"),
        35.0,
        "Fast remote control car",
        bought_with="Batteries",
        brands=("Hot Wheels", "Carrera RC", "Maisto", "Revell"),
        lines=("Off-Road RC Truck", "Drift RC Car", "Stunt RC Car", "Monster RC Truck"),
        attributes=(("1:16 Scale", "1:24 Scale"), ("Red", "Blue", "Yellow")),
    ),
    Leaf(
        (_T, "Building Sets", "Construction Toys"),
        40.0,
        "Creative building set",
        brands=("LEGO", "Mega Bloks", "Playmobil", "K'NEX"),
        lines=("City Police Station", "Race Car Set", "Treehouse Adventure", "Space Shuttle"),
        attributes=(("Ages 6+", "Ages 8+"),),
    ),
    Leaf(
        (_T, "Games & Puzzles", "Board Games"),
        25.0,
        "Family board game",
        brands=("Hasbro", "Ravensburger", "Asmodee", "Mattel"),
        lines=("Monopoly Classic", "Cluedo", "Ticket to Ride", "Catan", "Scrabble", "1000 Piece Jigsaw"),
        attributes=(),
    ),
    Leaf(
        (_T, "Soft Toys", "Plush Toys"),
        18.0,
        "Cuddly soft toy",
        brands=("Jellycat", "Steiff", "Ty", "Squishmallows"),
        lines=("Bashful Bunny", "Teddy Bear", "Sloth Plush", "Dinosaur Plush"),
        attributes=(("Small", "Medium", "Large"),),
    ),
)

LEAF_BY_NAME: dict[str, Leaf] = {leaf.name: leaf for leaf in LEAVES}
LEVEL2_PATHS: tuple[str, ...] = tuple(dict.fromkeys(leaf.level2_path for leaf in LEAVES))
DEPARTMENTS: tuple[str, ...] = tuple(dict.fromkeys(leaf.path[0] for leaf in LEAVES))


def category_nodes() -> list[tuple[str, int, bool]]:
    """Every node of the tree as (path, level, is_leaf), departments first."""
    nodes = [(dept, 1, False) for dept in DEPARTMENTS]
    nodes += [(path, 2, False) for path in LEVEL2_PATHS]
    nodes += [(leaf.path_string, 3, True) for leaf in LEAVES]
    return nodes
